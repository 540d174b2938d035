/*
 * profile_data.c - the one translation unit that defines tlsfit_profile_data
 * (the generated tlsfit_profile_config.h declares it everywhere else).
 */
#define TLSFIT_PROFILE_DATA_DEFINE
#include "tlsfit_profile_config.h"
