# ww_bayes: `make demo` and `make test` are the two commands a new user needs.
# Both create .venv (from a Python >= 3.12 found by scripts/find_python.sh) and install the pinned stack.

VENV      := .venv
VPY       := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
CONSTRAINTS := constraints.txt
DEMO_N    ?= 179840
DEMO_SEED ?= 1
DATA      := data/cohort.parquet
WHEELHOUSE ?= wheelhouse

.PHONY: demo demo-steps dev test lint format lock bench clean strip-notebooks chromium wheelhouse

$(VPY):
	@py=$$(./scripts/find_python.sh) || exit 1; \
	echo "Creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

# The runtime stack for `make demo`; the test and notebook tools on top of it for `make test` and `make lint`.
# Bytecode: the installed packages and ww_bayes are compiled once after pip, on both cores (pip's own
# compile, one file after another, is switched off). Python writes no bytecode of its own where
# PYTHONDONTWRITEBYTECODE is set (as in many container images): without this step every process compiles
# the whole stack again when it imports it (`import ww_bayes.cli`: 8.7 s against 3.1 s compiled).
COMPILE   = $(VPY) -m compileall -q -j 0 $(VENV)/lib ww_bayes

$(STAMP): $(VPY) pyproject.toml $(CONSTRAINTS)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet --no-compile -c $(CONSTRAINTS) -e .
	$(COMPILE)
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(VPY) -m pip install --quiet --no-compile -c $(CONSTRAINTS) -e ".[dev]"
	$(COMPILE)
	@touch $(DEV_STAMP)

dev: $(DEV_STAMP)

# The demo's steps as a graph of stamps in .demo/ (rebuilt on every `make demo`): the five fits, and then
# the reports and the release, run two at a time (one per core; DEMO_JOBS=1 runs them one after another);
# the longest first (make starts prerequisites in the order listed). Each step's output is shown whole
# when it ends.
DEMO_JOBS ?= 2
WWB       := $(VENV)/bin/ww-bayes

demo: $(STAMP)
	@rm -rf .demo release release_report_nl.html && mkdir -p .demo data results
	@$(MAKE) --no-print-directory -j$(DEMO_JOBS) --output-sync=target demo-steps

demo-steps: .demo/report .demo/report_nl .demo/release

.demo/cohort:
	$(WWB) simulate --n $(DEMO_N) --seed $(DEMO_SEED) --out $(DATA)
	$(WWB) validate $(DATA)
	@touch $@

.demo/job: .demo/cohort
	$(WWB) fit models/job_finding_12m.toml --data $(DATA) --out results/job_finding_12m.nc
	$(WWB) compare results/job_finding_12m.nc --data $(DATA) --out results/ --store
	@touch $@

.demo/ww: .demo/cohort
	$(WWB) fit models/ww_claim_12m.toml --data $(DATA) --out results/ww_claim_12m.nc
	$(WWB) compare results/ww_claim_12m.nc --data $(DATA) --out results/ --store
	@touch $@

.demo/trajectory: .demo/cohort
	$(WWB) fit models/trajectory_30m.toml --data $(DATA) --out results/trajectory_30m.nc
	@touch $@

# the cost-effectiveness: the trajectory's monthly effects, the destinations fit's ZW, WIA and bijstand months
.demo/cea: .demo/trajectory .demo/destinations
	$(WWB) cea --fit results/trajectory_30m.nc results/destinations_12m.nc \
		--assumptions models/cost_effectiveness.toml --out results/
	@touch $@

.demo/destinations: .demo/cohort
	$(WWB) fit models/destinations_12m.toml --data $(DATA) --out results/destinations_12m.nc
	$(WWB) compare results/destinations_12m.nc --data $(DATA) --out results/ --store
	@touch $@

.demo/hours: .demo/cohort
	$(WWB) fit models/hours_worked_y1.toml --data $(DATA) --out results/hours_worked_y1.nc
	$(WWB) compare results/hours_worked_y1.nc --data $(DATA) --out results/ --store
	@touch $@

.demo/excel: .demo/cea .demo/job .demo/ww .demo/destinations .demo/hours
	$(WWB) excel results/
	@touch $@

.demo/report: .demo/excel
	$(WWB) report results/ --data $(DATA) --out results/report.html
	@touch $@

.demo/report_nl: .demo/excel
	$(WWB) report results/ --lang nl --out results/report_nl.html
	@touch $@

.demo/release: .demo/cea .demo/job .demo/ww .demo/destinations .demo/hours
	$(WWB) release results/ --out release/
	$(WWB) report release/ --lang nl --out release_report_nl.html
	@touch $@

# The report test renders the HTML report in Debian's headless chromium: installed here when missing.
chromium:
	@./scripts/ensure_chromium.sh

# Test files run in parallel, one pytest worker per core (pytest-xdist; a file's tests stay together so its
# fixtures are built once; the slowest files first, tests/conftest.py): TEST_JOBS=1 runs them one after another.
# The 15 slowest steps are listed last.
TEST_JOBS ?= auto
test: $(DEV_STAMP) chromium
	$(VPY) -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=15

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check ww_bayes tests benchmarks scripts notebooks
	$(VENV)/bin/ruff format --check ww_bayes tests benchmarks notebooks

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format ww_bayes tests benchmarks notebooks
	$(VENV)/bin/ruff check --fix ww_bayes tests benchmarks

# Clear notebook outputs before committing (the tests check that notebooks are committed without them).
strip-notebooks: $(DEV_STAMP)
	$(VPY) scripts/strip_notebooks.py notebooks

# Re-pin the whole stack (run after changing dependencies in pyproject.toml).
lock: $(VPY)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e ".[dev]"
	$(VPY) -m pip freeze --exclude-editable | grep -v '^-e' > $(CONSTRAINTS)

# Every pinned runtime dependency as a wheel, with ww_bayes's own, in $(WHEELHOUSE)/: copy the folder into a
# secure environment and install with no network: pip install --no-index --find-links wheelhouse ww-bayes
wheelhouse: $(STAMP)
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(VPY) -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) .
	$(VPY) -m pip download --quiet --only-binary=:all: -c $(CONSTRAINTS) --dest $(WHEELHOUSE) \
		$(WHEELHOUSE)/ww_bayes-*.whl
	@echo "wheelhouse: $$(ls $(WHEELHOUSE) | wc -l) wheels, $$(du -sh $(WHEELHOUSE) | cut -f1) in $(WHEELHOUSE)/"

bench: $(STAMP)
	$(VPY) benchmarks/bench_simulate.py
	$(VPY) benchmarks/bench_fit.py
	$(VPY) benchmarks/bench_convergence.py
	$(VPY) benchmarks/bench_trajectory.py
	$(VPY) benchmarks/bench_files.py

clean:
	rm -rf $(VENV) .demo data release release_report_nl.html wheelhouse results/*.nc results/*.csv results/*.png \
		results/*.html
