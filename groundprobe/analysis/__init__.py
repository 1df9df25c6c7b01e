"""The paper's analyses of the AUC tables: verticals, context effects, lexical OLS, correlations, figures."""
