"""The nimctl_echo scorer: ask the model to repeat words, count the answers that contain them.

Writes ``<out>/echo_scores.json`` ({"samples": [...], "correct": k, "total": n}); output.py
turns it into nemo-evaluator's results. The key comes from ``$ECHO_API_KEY`` (exported by the
framework's command from the variable ``target.api_endpoint.api_key_name`` names); a request
the endpoint refuses fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

WORDS = ("apple", "river", "cobalt", "lantern", "meadow", "quartz", "saffron", "tundra")


PROMPTS = ("Repeat this word exactly: {}", "Please repeat this word exactly: {}")


def ask(url: str, model: str, prompt: str, key: str | None, max_tokens: int) -> str:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
    }
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        answer = json.load(response)
    return str(answer["choices"][0]["message"]["content"] or "")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--mode", default="score")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    if args.sleep:
        time.sleep(args.sleep)
    key = os.environ.get("ECHO_API_KEY") or None
    samples = []
    for index in range(args.n):
        word = WORDS[index % len(WORDS)]
        try:
            text = ask(args.url, args.model, PROMPTS[index % 2].format(word), key, args.max_tokens)
        except urllib.error.HTTPError as err:
            print(f"nimctl_echo: the endpoint answered HTTP {err.code}: {err.read()[:200]!r}", file=sys.stderr)
            return 1
        samples.append({"word": word, "answer": text, "correct": word in text})
    correct = sum(1 for s in samples if s["correct"])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "echo_scores.json"), "w", encoding="utf-8") as handle:
        json.dump({"samples": samples, "correct": correct, "total": len(samples)}, handle)
    print(f"nimctl_echo: {correct}/{len(samples)} answers repeated the word")
    if args.mode == "fail":
        print("nimctl_echo: failing on purpose (task fail)", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
