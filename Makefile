# The README's commands.
.PHONY: dev test bench bench-curve bench-scale flood-model reconcile replay-events smoke release
dev:  ## run the whole stack locally
	@bash scripts/dev.sh
test: ## install what is needed and run every check and test
	@bash scripts/test.sh
bench: ## measure each function as Lambda runs it (see BENCHMARKS.md)
	@bash scripts/bench.sh $(ARGS)
bench-curve: ## after `make bench`: each function under Lambda's CPU share at 128/256/512 MB, and what each size costs
	@bash scripts/bench-curve.sh $(ARGS)
bench-scale: ## at scale (docs/scale.md): the list search, and the load driver's two runs; or ARGS="--load N ..." / "--sweep 100000"
	@cargo build --quiet --release -p init-session -p callback -p complete -p webhook -p lambda-bench
	@if [ -n "$(ARGS)" ]; then target/release/bench-scale $(ARGS); else \
	  target/release/bench-scale && \
	  target/release/bench-scale --load 600 --envs 6 --concurrency 48 --traffic 100 --webhook-delay-ms 2000 && \
	  target/release/bench-scale --load 600 --envs 6 --concurrency 48 --traffic 100 --webhook-delay-ms 1000 \
	    --webhook-jitter-ms 3000 --webhook-loss-percent 20; fi
flood-model: ## what a flood of junk on each public route takes from legitimate traffic, with and without the edge (a model: docs/scale.md, "Floods"); ARGS="--seconds 600 --shared-default ..."
	@cargo run --quiet -p lambda-bench --bin flood-model -- $(ARGS)
reconcile: ## run the reconciler once against a running `make dev` (from another terminal)
	@PATH="$(CURDIR)/.tools/venv/bin:$$PATH" cargo lambda invoke reconcile --invoke-port $${WATCH_PORT:-9000} \
	  --data-file invoke/reconcile-scheduled.json
replay-events: ## re-announce what a dead letter (or a window) covers: MESSAGE=<file> | QUEUE=<url> | SINCE= UNTIL=; STACK=<stack> for a deployment
	@bash scripts/replay-events.sh
smoke: ## read-only checks of a deployed stack: make smoke URL=https://<api> [ORIGIN=https://<app>] [WEBHOOK_URL=<the webhook's URL, segment included>]
	@test -n "$(URL)" || { echo "usage: make smoke URL=<the stack's ApiUrl> [ORIGIN=<your app's origin>] [WEBHOOK_URL=<the webhook's URL>]"; exit 2; }
	@cargo run --quiet -p link-dev --features link-shared/dev-identity -- smoke --url "$(URL)" $(if $(ORIGIN),--origin "$(ORIGIN)") $(if $(WEBHOOK_URL),--webhook-url "$(WEBHOOK_URL)")
release: ## the release bundle in dist/: arm64 bootstraps (reproducible), template, contract, client package, SHA256SUMS
	@bash scripts/release.sh
