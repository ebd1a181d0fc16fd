import sys

from evals.retrieval.bench import main

sys.exit(main())
