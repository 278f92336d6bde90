# amtsbot - one non-recursive GNU Makefile.
#
#   make            build ./amtsbot (warnings, no -Werror)
#   make run        install missing packages, build, serve the sample kb on :8080
#   make test       install what tests need, build with -Werror + ASan/UBSan, run all tests
#   make bench      matcher, FAQ (vs NLP.js) and load benchmarks
#   make fuzz       libFuzzer targets (clang)
#   make deps       install the Debian (and npm) packages the project needs

CC      ?= cc
PKGS    := libpcre2-8 yaml-0.1 sqlite3 jansson libutf8proc libwebsockets libcrypto
WARN    := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes \
	   -Wold-style-definition -Wpointer-arith -Wvla -Wwrite-strings \
	   -Wformat=2 -Wshadow -fno-common
OPT     ?= -O2 -g
CFLAGS_EXTRA ?=
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstemmer -lev -lm -pthread
ALL_CFLAGS = -std=gnu11 $(OPT) $(WARN) $(CFLAGS_EXTRA) -I. $(PKG_CFLAGS) -MMD -MP

BUILD   ?= build
ENGINE_SRC := $(sort $(wildcard engine/*.c))
CONN_SRC   := $(sort $(wildcard connectors/*.c))
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
CONN_OBJ   := $(CONN_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all amtsbot run test test-build unit deps deps-test bench fuzz clean lint format

all: amtsbot

amtsbot: $(BUILD)/amtsbot
	@cp -f $(BUILD)/amtsbot ./amtsbot

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libengine.a: $(ENGINE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/amtsbot: $(CONN_OBJ) $(BUILD)/libengine.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CONN_OBJ) $(BUILD)/libengine.a $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libengine.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libengine.a $(PKG_LIBS) $$(pkg-config --libs cmocka) $(LDFLAGS)

unit: $(UNIT_BIN)

# ---- packages ---------------------------------------------------------
DEB_BUILD := build-essential pkg-config libpcre2-dev libyaml-dev libwebsockets-dev \
	     libwebsockets-evlib-ev libev-dev libsqlite3-dev libjansson-dev libstemmer-dev libutf8proc-dev libssl-dev \
	     openthesaurus-de-text tzdata
DEB_TEST  := libcmocka-dev python3 sqlite3 chromium
DEB_FUZZ  := clang libclang-rt-14-dev

define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
endef

deps:
	$(call apt_install,$(DEB_BUILD))

# Node.js may come from Debian (nodejs + npm) or from a vendor package that
# bundles npm and conflicts with Debian's npm: ask for the commands.
deps-test: deps
	$(call apt_install,$(DEB_TEST))
	@command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; }
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	@if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules/playwright-core ]; then \
		cd tests/browser && npm install --no-audit --no-fund --silent; fi

deps-fuzz: deps
	$(call apt_install,$(DEB_FUZZ))

# ---- run ----------------------------------------------------------------
run: deps
	@$(MAKE) --no-print-directory amtsbot
	./amtsbot serve --listen 127.0.0.1:8080 --kb intents --db amtsbot.db

# ---- test ---------------------------------------------------------------
# The test build lives in its own directory with -Werror and sanitizers.
test: deps-test
	@$(MAKE) --no-print-directory BUILD=build/san OPT="-O1 -g" \
		CFLAGS_EXTRA="-Werror $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" test-build
	@$(MAKE) --no-print-directory amtsbot
	@BUILD=build/san tests/run.sh

test-build: $(BUILD)/amtsbot unit

# ---- bench / fuzz ---------------------------------------------------------
bench: deps-test
	@$(MAKE) --no-print-directory amtsbot
	@bench/run.sh

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -I. $(PKG_CFLAGS)

build/fuzz/%: tests/fuzz/%.c $(ENGINE_SRC)
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(ENGINE_SRC) $(PKG_LIBS)

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $$t"; \
		mkdir -p build/fuzz/corpus-$$(basename $$t); \
		$$t -max_total_time=$${FUZZ_SECONDS:-30} -rss_limit_mb=2048 \
		    build/fuzz/corpus-$$(basename $$t) tests/fuzz/seeds/$$(basename $$t) || exit 1; \
	done

lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 -I. engine connectors
	pmccabe engine/*.c connectors/*.c | awk '$$2 > 15 || $$5 > 60 { print "too complex or long:", $$0 }'

format:
	clang-format -i engine/*.[ch] connectors/*.[ch]

clean:
	rm -rf build amtsbot

-include $(shell find build -name '*.d' 2>/dev/null)
