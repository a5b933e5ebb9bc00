#include "proto/bulk.h"

#include <cstring>

namespace tributary::proto::bulk {
namespace {

void PutU32(std::string* out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v), static_cast<char>(v >> 8),
                         static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  out->append(bytes, 4);
}

uint32_t GetU32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

}  // namespace

std::string EncodeHello(HelloKind kind, std::string_view header, std::string_view token) {
  std::string out;
  out.reserve(kPrefixBytes + header.size() + token.size());
  PutU32(&out, kMagic);
  PutU32(&out, static_cast<uint32_t>(header.size()));
  PutU32(&out, static_cast<uint32_t>(token.size()));
  PutU32(&out, static_cast<uint32_t>(kind));
  out.append(header);
  out.append(token);
  return out;
}

Result<HelloPrefix> DecodeHelloPrefix(const uint8_t* p) {
  if (GetU32(p) != kMagic) return Status::InvalidArgument("not a bulk Hello (wrong magic)");
  HelloPrefix h{.header_len = GetU32(p + 4),
                .token_len = GetU32(p + 8),
                .kind = static_cast<HelloKind>(GetU32(p + 12))};
  if (h.kind != HelloKind::kPush && h.kind != HelloKind::kPull) {
    return Status::InvalidArgument("bulk Hello of unknown kind " + std::to_string(GetU32(p + 12)));
  }
  if (h.header_len == 0 || h.header_len > kMaxHeaderBytes) {
    return Status::InvalidArgument("bulk Hello header of " + std::to_string(h.header_len) +
                                   " bytes (1 to " + std::to_string(kMaxHeaderBytes) + " allowed)");
  }
  if (h.token_len > kMaxTokenBytes) {
    return Status::InvalidArgument("bulk Hello token of " + std::to_string(h.token_len) +
                                   " bytes (at most " + std::to_string(kMaxTokenBytes) +
                                   " allowed)");
  }
  return h;
}

std::string EncodeAnswer(const Status& status, std::string_view reply) {
  const std::string_view message = std::string_view(status.message()).substr(0, kMaxMessageBytes);
  if (!status.ok()) reply = {};
  std::string out;
  out.reserve(kPrefixBytes + message.size() + reply.size());
  PutU32(&out, static_cast<uint32_t>(status.code()));
  PutU32(&out, static_cast<uint32_t>(message.size()));
  PutU32(&out, static_cast<uint32_t>(reply.size()));
  PutU32(&out, 0);
  out.append(message);
  out.append(reply);
  return out;
}

Result<AnswerPrefix> DecodeAnswerPrefix(const uint8_t* p) {
  AnswerPrefix a{.code = static_cast<StatusCode>(GetU32(p)),
                 .message_len = GetU32(p + 4),
                 .reply_len = GetU32(p + 8)};
  if (GetU32(p) > static_cast<uint32_t>(StatusCode::kUnauthenticated) ||
      a.message_len > kMaxMessageBytes || a.reply_len > kMaxMessageBytes) {
    return Status::DataLoss("malformed bulk Answer");
  }
  return a;
}

}  // namespace tributary::proto::bulk
