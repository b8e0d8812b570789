"""rasa_sdk actions: thin adapters between Rasa's tracker and the backend's dialogue API."""
