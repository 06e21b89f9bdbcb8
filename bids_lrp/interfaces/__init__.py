"""Thin nipype interfaces: each calls one function of the science modules."""
