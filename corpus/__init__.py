"""corpus: what the assistant looks things up in.

Node documents and described example flows (shipped with Plumb), the help of node packages a
user has installed, and the local vector + lexical index over all of it. Heavy libraries
(sentence-transformers, chromadb) are imported only where an index is built or queried.
"""
