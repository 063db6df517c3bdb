"""The TracOS side: the MongoDB resource, its stores and its queries."""
