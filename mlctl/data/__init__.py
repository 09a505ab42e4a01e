"""Reading, checking and splitting the recipe's data."""
