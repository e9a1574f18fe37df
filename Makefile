# genisp-mmdet: `make demo` and `make test` each do all the setup they need.
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: env demo photos photos-detectors test clean-demo

env:
	@bash tools/setup_env.sh

demo: env
	@$(PY) tools/demo/run_demo.py

# real COCO photographs through a real COCO detector (YOLOX-Nano): COCO=<COCO-format photo
# folder>, SEEDS=<training seeds>, MAX_IMAGES=<first N photos per split, for a full COCO copy>,
# PAPER_DESIGN=1 to train and score the paper's GenISP design as well
COCO ?= ../shared/datasets/coco-photos
SEEDS ?= 0 1 2
photos: env
	@$(PY) tools/demo/run_photos.py --coco-root $(COCO) --seeds $(SEEDS) \
		$(if $(MAX_IMAGES),--max-images $(MAX_IMAGES)) $(if $(PAPER_DESIGN),--paper-design)

# the same photos across detectors: an ISP trained through YOLOX-Nano, NanoDet-m or both,
# scored in front of each (same variables)
photos-detectors: env
	@$(PY) tools/demo/run_photos_detectors.py --coco-root $(COCO) --seeds $(SEEDS) \
		$(if $(MAX_IMAGES),--max-images $(MAX_IMAGES))

test: env
	@$(PY) -m pytest tests -q -p no:cacheprovider

clean-demo:
	rm -rf work_dirs/demo data/genisp_demo
