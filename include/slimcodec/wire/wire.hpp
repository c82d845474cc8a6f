// Frame format v1 in one include: CRC-32C, header fields and validation, writer, whole-buffer and stream parsers.
#pragma once

#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/frame.hpp"
#include "slimcodec/wire/header_codec.hpp"
#include "slimcodec/wire/parser.hpp"
#include "slimcodec/wire/writer.hpp"
