# Top-level wrapper around meson + ninja.
#   make            build into build/
#   make check      install missing Debian packages, build, run every test (unit + functional)
#   make check-slow long soak/fuzz/crash loops (not part of make check)
#   make fuzz       build the libFuzzer targets with ASan (clang) and run each for FUZZ_SECONDS
#   make asan       build with -Db_sanitize=address,undefined into build-asan/ and run the tests there
#   make demo       the main job: live mirror of a disk under a guest load, checked (docs/demo.md)

BUILD ?= build
MESON_OPTS ?=
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600
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

check-slow: deps
	$(MAKE) build
	python3 tests/run-all.py --build $(BUILD) --slow $(CHECK_ARGS)

asan: deps
	$(MAKE) BUILD=build-asan MESON_OPTS="-Db_sanitize=address,undefined -Db_lundef=false" check

fuzz: deps
	CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false 2>/dev/null || true
	ninja -C build-fuzz
	./tests/fuzz/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

clean:
	if [ -d $(BUILD) ]; then ninja -C $(BUILD) clean; fi

distclean:
	rm -rf build build-asan build-fuzz

# The main-job demonstration (scripts/demo.py, docs/demo.md); DEMO_ARGS passes options.
DEMO_ARGS ?=
.PHONY: demo
demo: deps
	$(MAKE) build
	python3 scripts/demo.py --build $(BUILD) $(DEMO_ARGS)
