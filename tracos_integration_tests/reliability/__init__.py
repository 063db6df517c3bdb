"""The reliability suite: fault injection, bad input and concurrency (make reliability)."""
