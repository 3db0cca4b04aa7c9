# The README's commands.
.PHONY: dev test bench reconcile
dev:  ## run the whole stack locally
	@bash scripts/dev.sh
test: ## install what is needed and run every check and test
	@bash scripts/test.sh
bench: ## measure each function as Lambda runs it (see BENCHMARKS.md)
	@bash scripts/bench.sh $(ARGS)
reconcile: ## run the reconciler once against a running `make dev` (from another terminal)
	@PATH="$(CURDIR)/.tools/venv/bin:$$PATH" cargo lambda invoke reconcile --invoke-port $${WATCH_PORT:-9000} \
	  --data-file events/reconcile-scheduled.json
