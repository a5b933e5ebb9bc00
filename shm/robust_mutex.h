// A mutex in shared memory that every process mapping it can lock, and that survives the death
// of its holder: the next locker gets EOWNERDEAD, repairs what the mutex guards, and marks it
// consistent (SlotPool's tables, a DPDK memzone's table of the processes that have it open).
#pragma once

#include <pthread.h>

namespace tributary::shm {

// REQUIRES: `mutex` lies in shared memory no process uses yet.
inline void InitRobustMutex(pthread_mutex_t* mutex) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
}

}  // namespace tributary::shm
