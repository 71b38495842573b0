#include "stack/version.hpp"
