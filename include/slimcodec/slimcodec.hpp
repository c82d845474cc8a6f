// slimcodec: one include for the core library (quantizer, wire format, tensor <-> frame).
#pragma once

#include "slimcodec/codec.hpp"
#include "slimcodec/common/result.hpp"
#include "slimcodec/quant/quant.hpp"
#include "slimcodec/common/crc32c.hpp"
#include "slimcodec/wire/frame.hpp"
#include "slimcodec/wire/parser.hpp"
#include "slimcodec/wire/writer.hpp"
