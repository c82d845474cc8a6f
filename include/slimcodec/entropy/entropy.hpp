// Codec 1 in one include: frequency tables (fit, validate, hash) and the rANS payload coder.
#pragma once

#include "slimcodec/entropy/rans.hpp"
#include "slimcodec/entropy/tables.hpp"
