"""A synthetic bank: customers, accounts and planted churn stories for demos and tests."""
