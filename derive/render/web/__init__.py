"""The web page: the page, its tables, MathML, the SVG diagram and the loss plots."""
