# ports/build.mk - builds mbedTLS and the tlsfit harness for one board.
# Invoked by measure/build.py with every variable set on the command line:
#
#   make -f ports/build.mk lib  MBEDTLS_DIR=... CONFIG_DIR=... LIB_DIR=...
#        CC=... AR=... BOARD_CFLAGS="..."
#   make -f ports/build.mk fw   (the above) FW_DIR=... BOARD_DIR=...
#        BOARD_SRCS="abs paths" BOARD_INCLUDES="abs dirs" PROFILE_DIR=... LDSCRIPT=...
#        BOARD_LDFLAGS="..." FLASH_SIZE=bytes RAM_SIZE=bytes
#   LTO=1 (either target): link-time optimisation of the library and the
#        harness together (-flto, with -g so that measure/figures.py can
#        attribute ROM to source files from DWARF: the debug info is not
#        loaded, the image is the same); AR must then be the gcc-ar wrapper.
#   CCACHE=ccache (either target): a compiler launcher for the library objects
#        (empty by default). They compile with CONFIG_DIR as the working
#        directory and -I. (sources and objects stay absolute), so that the
#        preprocessed text of a file names the config as "./tlsfit_config.h"
#        whatever folder it lives in: a file the config's change does not
#        affect preprocesses to the same bytes for every config, which is what
#        lets ccache reuse its object across configs (measure/build.py).
#
# No dependency files: measure/build.py builds each FW_DIR and LIB_DIR once, from scratch, in a
# folder named by the hash of everything the build reads (sources by content, flags, compiler), so
# make never has to find out what changed, and no file of the cache names a source path that a
# moved or reinstalled tlsfit (or a deleted copy of ports/) no longer has.
#
# FLASH_SIZE/RAM_SIZE are board.yaml's limits; a board's linker.ld uses them
# as TLSFIT_FLASH_SIZE/TLSFIT_RAM_SIZE in its MEMORY regions.
#
# CONFIG_DIR holds tlsfit_config.h (the generated mbedtls_config.h);
# PROFILE_DIR holds tlsfit_profile_config.h (the generated per-profile facts
# and data, measure/firmware_data.py).

PORTS_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
# the library objects compile in CONFIG_DIR (see CCACHE above): every path they use is absolute
override MBEDTLS_DIR := $(abspath $(MBEDTLS_DIR))
override CONFIG_DIR := $(abspath $(CONFIG_DIR))
override LIB_DIR := $(abspath $(LIB_DIR))
CCACHE :=
comma := ,
COMMON_DIR := $(PORTS_DIR)common

# size-oriented like a product build; sections per function so --gc-sections
# drops what the profile never calls
OPT_CFLAGS := -Os -ffunction-sections -fdata-sections -std=c99
# LTO: newlib's malloc calls _sbrk (ports/common/heap.c), which the LTO pass
# cannot see from libc and would drop: keep it undefined-on-entry (-u)
LTO_CFLAGS := $(if $(filter 1,$(LTO)),-flto -g)
LTO_LDFLAGS := $(if $(filter 1,$(LTO)),-flto -Os -Wl$(comma)-u$(comma)_sbrk)
OPT_CFLAGS += $(LTO_CFLAGS)
CONFIG_CFLAGS := -I$(CONFIG_DIR) -DMBEDTLS_CONFIG_FILE='"tlsfit_config.h"'
# the library objects: config found through the working directory (see CCACHE above); under LTO
# (-g) the working directory is also DW_AT_comp_dir, mapped to "." so that an object's bytes never
# depend on the config's folder (ccache hands one config's object to another)
LIB_CONFIG_CFLAGS := -I. -DMBEDTLS_CONFIG_FILE='"tlsfit_config.h"' \
	$(if $(filter 1,$(LTO)),-fdebug-prefix-map=$(CONFIG_DIR)=.)
# LTO objects name their sections after a random seed, by default a new one per compile: seeded by
# the object's name instead, an LTO object is the same bytes every time it is built (with or without
# ccache); nothing in the code depends on it
LIB_SEED_CFLAGS = $(if $(filter 1,$(LTO)),-frandom-seed=$(@F))
MBEDTLS_INCLUDES := -I$(MBEDTLS_DIR)/include -I$(MBEDTLS_DIR)/library \
	-I$(MBEDTLS_DIR)/3rdparty/everest/include \
	-I$(MBEDTLS_DIR)/3rdparty/everest/include/everest \
	-I$(MBEDTLS_DIR)/3rdparty/everest/include/everest/kremlib \
	-I$(MBEDTLS_DIR)/3rdparty/p256-m/p256-m/include \
	-I$(MBEDTLS_DIR)/3rdparty/p256-m/p256-m/include/p256-m \
	-I$(MBEDTLS_DIR)/3rdparty/p256-m/p256-m_driver_interface
LIB_CFLAGS := $(BOARD_CFLAGS) $(OPT_CFLAGS) $(LIB_CONFIG_CFLAGS) $(MBEDTLS_INCLUDES)
HARNESS_CFLAGS := $(BOARD_CFLAGS) $(OPT_CFLAGS) $(CONFIG_CFLAGS) $(MBEDTLS_INCLUDES) -Wall -Wextra -Werror -I$(COMMON_DIR) \
	$(addprefix -I,$(PROFILE_DIR) $(BOARD_DIR) $(BOARD_INCLUDES))

# mbedTLS's library/*.c plus the 3rdparty drivers its own Makefile builds;
# each compiles to nothing unless the config enables it
LIB_SRCS := $(wildcard $(MBEDTLS_DIR)/library/*.c) \
	$(MBEDTLS_DIR)/3rdparty/everest/library/everest.c \
	$(MBEDTLS_DIR)/3rdparty/everest/library/x25519.c \
	$(MBEDTLS_DIR)/3rdparty/everest/library/Hacl_Curve25519_joined.c \
	$(MBEDTLS_DIR)/3rdparty/p256-m/p256-m_driver_entrypoints.c \
	$(MBEDTLS_DIR)/3rdparty/p256-m/p256-m/p256-m.c
LIB_OBJS := $(addprefix $(LIB_DIR)/obj/,$(notdir $(LIB_SRCS:.c=.o)))
vpath %.c $(sort $(dir $(LIB_SRCS)))

.PHONY: lib fw
lib: $(LIB_DIR)/libmbedtls.a

$(LIB_DIR)/obj/%.o: %.c $(CONFIG_DIR)/tlsfit_config.h
	@mkdir -p $(@D)
	cd $(CONFIG_DIR) && $(CCACHE) $(CC) $(LIB_CFLAGS) $(LIB_SEED_CFLAGS) -c $< -o $@

# one archive, so the map file names ROM per object: libmbedtls.a(ecp.o)
$(LIB_DIR)/libmbedtls.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# harness (measurement) objects, plus app_contexts.c: the mbedTLS contexts any
# application holds (counted with mbedTLS in the static RAM split), and one
# file per application protocol, each compiled to nothing unless selected
COMMON_SRCS := main.c harness.c heap.c stack.c profile_data.c app_contexts.c \
	app_io.c app_echo.c app_mqtt.c app_http.c app_coap.c app_time.c
FW_OBJS := $(addprefix $(FW_DIR)/obj/common/,$(COMMON_SRCS:.c=.o)) \
	$(addprefix $(FW_DIR)/obj/board/,$(notdir $(BOARD_SRCS:.c=.o)))
# -L: a board's linker script may INCLUDE family files from its include dirs
LDSCRIPT_FLAGS := $(if $(LDSCRIPT),-T$(LDSCRIPT) $(addprefix -L,$(BOARD_INCLUDES)))
MEMORY_LDFLAGS := $(if $(FLASH_SIZE),-Wl$(comma)--defsym=TLSFIT_FLASH_SIZE=$(FLASH_SIZE)) \
	$(if $(RAM_SIZE),-Wl$(comma)--defsym=TLSFIT_RAM_SIZE=$(RAM_SIZE))

fw: $(FW_DIR)/tlsfit.elf

$(FW_DIR)/obj/common/%.o: $(COMMON_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(HARNESS_CFLAGS) -c $< -o $@

# one rule per board source: they may live in a shared family folder
define board_object_rule
$(FW_DIR)/obj/board/$(notdir $(1:.c=.o)): $(1)
	@mkdir -p $$(@D)
	$$(CC) $$(HARNESS_CFLAGS) -c $$< -o $$@
endef
$(foreach src,$(BOARD_SRCS),$(eval $(call board_object_rule,$(src))))

# board.yaml: its limits are link inputs
$(FW_DIR)/tlsfit.elf: $(FW_OBJS) $(LIB_DIR)/libmbedtls.a $(LDSCRIPT) $(wildcard $(BOARD_DIR)/board.yaml)
	$(CC) $(BOARD_CFLAGS) $(LTO_LDFLAGS) $(LDSCRIPT_FLAGS) $(MEMORY_LDFLAGS) -Wl,--gc-sections \
		-Wl,-Map=$(FW_DIR)/tlsfit.map -o $@ $(FW_OBJS) $(LIB_DIR)/libmbedtls.a $(BOARD_LDFLAGS)

