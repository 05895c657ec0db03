# Top-level wrapper around meson + ninja.
#   make            build into build/
#   make check      install missing Debian packages, build, run every test (unit + functional)
#   make check-slow long soak/fuzz/crash loops (not part of make check): make check's
#                   tests plus iotests group slow, then every libFuzzer target for
#                   SLOW_FUZZ_SECONDS (skipped with a message when clang/libFuzzer is missing)
#   make fuzz       build the libFuzzer targets with ASan (clang) and run each for FUZZ_SECONDS
#   make asan       build with -Db_sanitize=address,undefined into build-asan/ and run the tests there
#   make demo       the main job: live mirror of a disk under a guest load, checked (docs/demo.md)

BUILD ?= build
MESON_OPTS ?=
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
SLOW_FUZZ_SECONDS ?= 120
FUZZ_BUILD ?= build-fuzz
CHECK_ARGS ?=

ifeq ($(CI),true)
WERROR = -Dwerror=true
endif

.PHONY: all build check check-unit check-iotests check-slow fuzz asan clean distclean deps bench

all: build

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(WERROR) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	./scripts/install-deps.sh

check: deps
	$(MAKE) build
	python3 tests/run-all.py --build $(BUILD) $(CHECK_ARGS)

check-unit: build
	python3 tests/run-all.py --build $(BUILD) --unit-only

check-iotests: build
	python3 tests/run-all.py --build $(BUILD) --iotests-only $(CHECK_ARGS)

# The fuzzers run even when a test failed; the target fails if either did.
check-slow: deps
	$(MAKE) build
	status=0; \
	python3 tests/run-all.py --build $(BUILD) --slow $(CHECK_ARGS) || status=1; \
	./tests/fuzz/build-and-run.sh --skip-without-clang $(FUZZ_BUILD) \
	    $(SLOW_FUZZ_SECONDS) $(JOBS) || status=1; \
	if [ $$status -ne 0 ]; then echo "check-slow: FAILED"; fi; \
	exit $$status

asan: deps
	$(MAKE) BUILD=build-asan MESON_OPTS="-Db_sanitize=address,undefined -Db_lundef=false" check

fuzz: deps
	./tests/fuzz/build-and-run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(JOBS)

clean:
	if [ -d $(BUILD) ]; then ninja -C $(BUILD) clean; fi

distclean:
	rm -rf build build-asan $(FUZZ_BUILD)

# The main-job demonstration (scripts/demo.py, docs/demo.md); DEMO_ARGS passes options.
DEMO_ARGS ?=
.PHONY: demo
demo: deps
	$(MAKE) build
	python3 scripts/demo.py --build $(BUILD) $(DEMO_ARGS)
