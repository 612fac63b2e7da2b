"""`make eval`: the built-in agent's understanding measured on spoken requests it was never tuned on.

A fixed set of requests (bench/eval/dataset.py) is spoken by voices of two engines (espeak-ng variants and
Debian's flite; never the agent's own voice), put through conditions (clean, pink noise at 20 and 10 dB SNR,
8 and 48 kHz: bench/eval/conditions.py), and streamed in real time through the whole stack like a client would
(bench/eval/runner.py), once per recognition engine. The report (bench/eval/report.py) gives intent accuracy,
parameter accuracy, both right, word error rate and recognition latency per condition, engines side by side.
See docs/local_agent.md, "Evaluation".
"""
