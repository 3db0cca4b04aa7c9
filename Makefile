# The README's commands.
.PHONY: dev test bench
dev:  ## run the whole stack locally
	@bash scripts/dev.sh
test: ## install what is needed and run every check and test
	@bash scripts/test.sh
bench: ## measure each function as Lambda runs it (see BENCHMARKS.md)
	@bash scripts/bench.sh $(ARGS)
