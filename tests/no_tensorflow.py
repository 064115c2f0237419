"""Python code that, run first in a process, makes any import of TensorFlow fail and
records it: the tests that read prepared datasets without TensorFlow prepend it."""

# Any import of tensorflow (or a submodule) fails and is recorded in `tried`; probes that
# only look for the package still see it installed.
NO_TENSORFLOW = """
import importlib.abc, importlib.machinery, sys
tried = []
class NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "tensorflow":
            return importlib.machinery.ModuleSpec(name, self)
        return None
    def create_module(self, spec):
        tried.append(spec.name)
        raise ImportError(f"{spec.name} is blocked")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, NoTensorFlow())
"""
