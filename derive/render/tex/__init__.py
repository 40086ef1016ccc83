"""LaTeX: the document, its rows, the matrix form, training, the worksheet, and the PDF."""
