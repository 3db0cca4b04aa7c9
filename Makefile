# The README's commands.
.PHONY: dev test bench bench-curve bench-scale reconcile smoke
dev:  ## run the whole stack locally
	@bash scripts/dev.sh
test: ## install what is needed and run every check and test
	@bash scripts/test.sh
bench: ## measure each function as Lambda runs it (see BENCHMARKS.md)
	@bash scripts/bench.sh $(ARGS)
bench-curve: ## after `make bench`: each function under Lambda's CPU share at 128/256/512 MB, and what each size costs
	@bash scripts/bench-curve.sh $(ARGS)
bench-scale: ## at scale (docs/scale.md): the list search against the connect rate; ARGS="--load 400 ..." the load driver, "--sweep 100000" the reconciler
	@cargo build --quiet --release -p init-session -p callback -p webhook -p lambda-bench
	@target/release/bench-scale $(ARGS)
reconcile: ## run the reconciler once against a running `make dev` (from another terminal)
	@PATH="$(CURDIR)/.tools/venv/bin:$$PATH" cargo lambda invoke reconcile --invoke-port $${WATCH_PORT:-9000} \
	  --data-file events/reconcile-scheduled.json
smoke: ## read-only checks of a deployed stack: make smoke URL=https://<api> [ORIGIN=https://<app>]
	@test -n "$(URL)" || { echo "usage: make smoke URL=<the stack's ApiUrl> [ORIGIN=<your app's origin>]"; exit 2; }
	@cargo run --quiet -p link-dev -- smoke --url "$(URL)" $(if $(ORIGIN),--origin "$(ORIGIN)")
