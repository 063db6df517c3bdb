"""The client side: the customer's inbound and outbound folders and the IO manager."""
