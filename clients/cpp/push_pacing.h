// PushPacing: how much a bulk push's socket may hold queued unsent, by how many pushes of this
// process stream at once.
//
// Where several stream together (many simulated clients in one process, as `tributary sim` and
// the benchmarks run them), each socket keeps at most kCrowdedUnsentBytes unsent
// (TCP_NOTSENT_LOWAT). A sender then blocks until the node has taken its bytes, so they are
// still in cache when the node copies them, and a node on the same host no longer transmits
// its clients' backlog in its own context each time it opens their windows. A lone push keeps
// the kernel's default, which lets one stream run faster, and so does every push while more
// than kMostPaced stream at once: what they could hold unsent together would not fit in cache
// anyway, and the limit would only cost each sender more wakeups. Bytes in flight are not
// limited, so a long, fast path is not slowed. Measured in bench/RESULTS.md ("Unsent bytes of
// crowded pushes").
//
// The count is thread-safe; each PushPacing belongs to the thread that sends its push.
#pragma once

#include <optional>

namespace tributary::client {

class PushPacing {
 public:
  static constexpr int kCrowdedUnsentBytes = 128 << 10;
  static constexpr int kMostPaced = 64;  // 8 MiB unsent at most, all of them together

  // Counts a push streaming over `fd` until destroyed.
  explicit PushPacing(int fd);
  ~PushPacing();
  PushPacing(const PushPacing&) = delete;
  PushPacing& operator=(const PushPacing&) = delete;

  // Before each piece of the payload: sets the socket's limit if the pushes streaming now call
  // for another one than it has.
  void BeforePiece();

  // Pushes of this process streaming now.
  static int Streaming();

 private:
  int fd_;
  std::optional<bool> limited_;  // what the socket is set to; unknown before the first piece
};

}  // namespace tributary::client
