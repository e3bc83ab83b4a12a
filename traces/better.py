"""metrics.better: which way a metric improves, declared by the workload that records it.

Plain constants with no pyarrow, so the workload registry can name them cheaply.
"""

LOWER = "lower"
HIGHER = "higher"
BETTER = (LOWER, HIGHER)
