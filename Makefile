# genisp-mmdet: `make demo` and `make test` each do all the setup they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: env demo test clean-demo

env:
	@bash tools/setup_env.sh

demo: env
	@$(PY) tools/demo/run_demo.py

test: env
	@$(PY) -m pytest tests -q -p no:cacheprovider

clean-demo:
	rm -rf work_dirs/demo data/genisp_demo
