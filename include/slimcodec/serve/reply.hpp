// Moved to wire/reply.hpp (the reply is part of the wire core both sides share); this forwarding header keeps
// the serve:: names for code that has not moved yet.
#pragma once

#include <slimcodec/wire/reply.hpp>

namespace slimcodec::serve {

using wire::digest_features;
using wire::kReplyMagic;
using wire::kReplySize;
using wire::kReplyVersion;
using wire::parse_reply;
using wire::Reply;
using wire::ReplyBytes;
using wire::write_reply;

}  // namespace slimcodec::serve
