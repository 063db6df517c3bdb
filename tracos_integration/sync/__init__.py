"""The sync itself: the core's rules applied to what the client side read and the TracOS
side holds. Plain Python, so it runs and is tested without Dagster."""
