"""The scikit-learn estimators, which validate, orchestrate and store results."""
