"""Result types, their numbers and storage (numpy and pandas only: no model, no plotting)."""
