"""What results look like: figures, HTML views, the files each result type writes and the lines the
CLI prints. Outputs read results; they never touch a model."""
