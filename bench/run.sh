#!/usr/bin/env bash
# bench/run.sh - 'make bench': matcher speed on the sample kb and on a
# generated kb of 10,000 services, the FAQ measurement against NLP.js,
# and (when built) the WebSocket load test.
set -eu
cd "$(dirname "$0")/.."
echo "== matcher: sample knowledge base and 10,000 synthetic services (one core)"
taskset -c 0 ./amtsbot bench --kb intents --synthetic 10000
echo
echo "== FAQ answer quality: amtsbot vs NLP.js (deepset COVID-QA paraphrases, HWU64 out-of-scope)"
python3 bench/faq_eval.py
if [ -x bench/load.sh ]; then
	echo
	echo "== WebSocket load test"
	bench/load.sh
fi
echo
echo "== statistics: 'amtsbot stats' over one million stored messages"
bench/stats_bench.sh
