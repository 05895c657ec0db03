# QAPI schema compiler for blockd (package marker).
