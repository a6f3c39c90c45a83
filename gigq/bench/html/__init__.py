"""The HTML kit every gigq-bench page shares: charts as inline SVG (``charts``), number and
label formats (``format``) and the jinja2 templates."""
