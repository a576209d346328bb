"""Forge's synthesis helper, run with a task environment's own interpreter (inside the sandbox).

Subcommands (results are JSON on stdout or in --out):

  sites OUT FILE...        mutation sites per file, found with Python's `ast`: byte spans of the
                           file and their replacement text. Each site is checked to compile.
  check OUT DIR            compiles every *.py under DIR; {relative path: error or null}.
  run --out F [--trace] -- PYTEST-ARGS
                           runs pytest in-process with a plugin that records, per test, its
                           outcome, duration, failure message and traceback tail, collection
                           errors, and (with --trace) which project files each test calls into
                           and at what call depth from the test (a `sys.settrace` of call events).

Edits are byte splices of node spans (lineno/col_offset/end_lineno/end_col_offset), never
`ast.unparse`: the rest of the file stays byte-identical, so the gold patch is a minimal diff.
Only code inside function bodies is mutated: it runs only when its function is called, which the
call tracer sees, so "tests that call into this file" is a sound test selection.
"""
import ast
import json
import os
import sys
import time

# ---------------------------------------------------------------------------------------------
# Mutation sites

COMPARE_FLIPS = {
    ast.Eq: (ast.NotEq, "==", "!="), ast.NotEq: (ast.Eq, "!=", "=="),
    ast.Lt: (ast.GtE, "<", ">="), ast.GtE: (ast.Lt, ">=", "<"),
    ast.Gt: (ast.LtE, ">", "<="), ast.LtE: (ast.Gt, "<=", ">"),
    ast.Is: (ast.IsNot, "is", "is not"), ast.IsNot: (ast.Is, "is not", "is"),
    ast.In: (ast.NotIn, "in", "not in"), ast.NotIn: (ast.In, "not in", "in"),
}


class Source:
    """A file's bytes and the byte offset of each line start (ast columns are UTF-8 offsets)."""

    def __init__(self, data):
        self.data = data
        self.starts = [0]
        for index, byte in enumerate(data):
            if byte == 10:
                self.starts.append(index + 1)

    def offset(self, line, col):
        return self.starts[line - 1] + col

    def span(self, node):
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def text(self, start, end):
        return self.data[start:end].decode("utf-8")

    def line_span(self, node):
        """The whole lines of a statement, newline included, when it owns them (no `;`, nothing
        else on its first or last line); None otherwise."""
        start, end = self.span(node)
        line_start = self.starts[node.lineno - 1]
        if self.data[line_start:start].strip(b" \t"):
            return None
        rest_end = self.starts[node.end_lineno] if node.end_lineno < len(self.starts) else len(self.data)
        rest = self.data[end:rest_end]
        if rest.strip(b" \t\r\n") and not rest.strip(b" \t").startswith(b"#"):
            return None
        return line_start, rest_end


class SiteFinder(ast.NodeVisitor):
    def __init__(self, source, path):
        self.source = source
        self.path = path
        self.sites = []
        self.functions = []  # qualified names of the enclosing functions/classes
        self.scopes = []     # first lines of the enclosing functions (co_firstlineno: decorators included)
        self.in_function = 0

    # -- scopes -------------------------------------------------------------------------------
    def visit_ClassDef(self, node):
        self.functions.append(node.name)
        for statement in node.body:
            self.visit(statement)
        self.functions.pop()

    def visit_FunctionDef(self, node):
        # Decorators, defaults and annotations run at import time: not mutated (see module doc).
        self.functions.append(node.name)
        self.scopes.append(min([node.lineno] + [d.lineno for d in node.decorator_list]))
        self.in_function += 1
        self.body(node.body, docstring=True)
        self.in_function -= 1
        self.scopes.pop()
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        if self.in_function:
            self.visit(node.body)

    def body(self, statements, docstring=False):
        for index, statement in enumerate(statements):
            if docstring and index == 0 and isinstance(statement, ast.Expr) and isinstance(
                    getattr(statement, "value", None), ast.Constant) and isinstance(statement.value.value, str):
                continue
            if self.in_function:
                self.statement_sites(statement, statements)
            self.visit(statement)

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self.body(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    # -- recording ----------------------------------------------------------------------------
    def add(self, kind, node, start, end, replacement, description):
        self.sites.append({
            "kind": kind, "start": start, "end": end, "replacement": replacement,
            "line": node.lineno, "function": ".".join(self.functions) or None,
            "scope_line": self.scopes[-1] if self.scopes else None,
            "description": description,
        })

    def statement_sites(self, statement, siblings):
        src = self.source
        if isinstance(statement, ast.Return) and statement.value is not None:
            lines = src.line_span(statement)
            if len(siblings) >= 2 and lines:
                self.add("remove_return", statement, lines[0], lines[1], "", "return statement removed")
            else:
                start, end = src.span(statement)
                self.add("remove_return", statement, start, end, "pass", "return statement replaced by pass")
            return
        droppable = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.If, ast.For, ast.While,
                     ast.With, ast.Try, ast.Raise, ast.Delete)
        if isinstance(statement, droppable) and len(siblings) >= 2:
            lines = src.line_span(statement)
            if lines:
                self.add("drop_statement", statement, lines[0], lines[1], "",
                         "%s statement removed" % type(statement).__name__.lower())
        if isinstance(statement, ast.If) and statement.orelse:
            self.drop_else(statement)

    def drop_else(self, node):
        """Removes an `else:` / `elif` branch: from its keyword's line to the end of the branch."""
        src = self.source
        first = node.orelse[0]
        last = node.orelse[-1]
        body_end = node.body[-1].end_lineno
        keyword_line = None
        for line in range(body_end + 1, first.lineno + 1):
            text = src.data[src.starts[line - 1]:src.starts[line] if line < len(src.starts) else len(src.data)]
            stripped = text.lstrip(b" \t")
            if stripped.startswith(b"else") or stripped.startswith(b"elif"):
                keyword_line = line
                break
        if keyword_line is None:
            return
        tail = src.line_span(last) if last.end_lineno else None
        if not tail:
            return
        self.add("drop_branch", node, src.starts[keyword_line - 1], tail[1], "", "else branch removed")

    # -- expressions --------------------------------------------------------------------------
    def visit_Compare(self, node):
        if self.in_function:
            src = self.source
            operands = [node.left] + node.comparators
            for index, op in enumerate(node.ops):
                flip = COMPARE_FLIPS.get(type(op))
                if not flip:
                    continue
                _, old, new = flip
                gap_start = src.span(operands[index])[1]
                gap_end = src.span(operands[index + 1])[0]
                gap = src.text(gap_start, gap_end)
                words = " ".join(gap.replace("(", " ").replace(")", " ").split())
                if words != old:
                    continue  # comments or parentheses we cannot place the operator among
                at = gap.find(old.split()[0])
                end = gap.find(old.split()[-1], at) + len(old.split()[-1])
                self.add("flip_comparison", node, gap_start + at, gap_start + end, new,
                         "comparison %s flipped to %s" % (old, new))
                if isinstance(operands[index + 1], ast.Constant) and type(operands[index + 1].value) is int:
                    self.off_by_one(operands[index + 1], "comparison bound")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        if self.in_function:
            src = self.source
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            for left, right in zip(node.values, node.values[1:]):
                gap_start, gap_end = src.span(left)[1], src.span(right)[0]
                gap = src.text(gap_start, gap_end)
                if " ".join(gap.replace("(", " ").replace(")", " ").split()) != old:
                    continue
                at = gap.find(old)
                self.add("flip_boolean", node, gap_start + at, gap_start + at + len(old), new,
                         "boolean %s flipped to %s" % (old, new))
        self.generic_visit(node)

    def visit_Constant(self, node):
        if self.in_function and type(node.value) is bool:
            start, end = self.source.span(node)
            self.add("flip_boolean", node, start, end, str(not node.value),
                     "constant %s flipped to %s" % (node.value, not node.value))
        elif self.in_function and type(node.value) is int and not getattr(node, "_forge_seen", False):
            start, end = self.source.span(node)
            if self.source.text(start, end).isdigit():
                new = node.value + 1 if node.value != 1 else 0
                self.add("change_constant", node, start, end, str(new), "constant %d changed to %d" % (node.value, new))

    def off_by_one(self, node, what):
        start, end = self.source.span(node)
        if not self.source.text(start, end).isdigit():
            return
        node._forge_seen = True
        for delta in (1, -1):
            new = node.value + delta
            if new < 0:
                continue
            self.add("off_by_one", node, start, end, str(new), "%s %d changed to %d" % (what, node.value, new))

    def visit_Slice(self, node):
        if self.in_function:
            for part in (node.lower, node.upper):
                if isinstance(part, ast.Constant) and type(part.value) is int:
                    self.off_by_one(part, "slice bound")
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if self.in_function and isinstance(node.slice, ast.Constant) and type(node.slice.value) is int:
            self.off_by_one(node.slice, "index")
        self.generic_visit(node)

    def visit_BinOp(self, node):
        if self.in_function and isinstance(node.op, (ast.Add, ast.Sub)) and isinstance(node.right, ast.Constant) \
                and type(node.right.value) is int:
            self.off_by_one(node.right, "offset")
        self.generic_visit(node)

    def visit_Call(self, node):
        if self.in_function:
            src = self.source
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name == "range":
                for argument in node.args:
                    if isinstance(argument, ast.Constant) and type(argument.value) is int:
                        self.off_by_one(argument, "range bound")
            positional = [a for a in node.args if not isinstance(a, ast.Starred)]
            if len(positional) == len(node.args) and len(positional) >= 2:
                first, second = positional[0], positional[1]
                a, b = src.span(first), src.span(second)
                left, right = src.text(*a), src.text(*b)
                if left != right:
                    self.add("swap_arguments", node, a[0], b[1], right + src.text(a[1], b[0]) + left,
                             "arguments of %s() swapped" % (name or "call"))
        self.generic_visit(node)

    def visit_If(self, node):
        self.invert(node)
        self.generic_visit(node)

    def visit_While(self, node):
        self.invert(node)
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self.invert(node)
        self.generic_visit(node)

    def invert(self, node):
        if not self.in_function:
            return
        test = node.test
        start, end = self.source.span(test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.source.span(test.operand)
            self.add("invert_condition", node, start, end, self.source.text(*inner), "condition's not removed")
        else:
            self.add("invert_condition", node, start, end, "not (%s)" % self.source.text(start, end),
                     "condition inverted")


def sites_for(path):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError) as error:
        return {"error": "%s: %s" % (type(error).__name__, error), "sites": []}
    finder = SiteFinder(Source(data), path)
    finder.visit(tree)
    kept, seen = [], set()
    for site in finder.sites:
        key = (site["start"], site["end"], site["replacement"])
        if key in seen:
            continue
        seen.add(key)
        mutated = data[:site["start"]] + site["replacement"].encode("utf-8") + data[site["end"]:]
        if mutated == data:
            continue
        try:
            compile(mutated, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        kept.append(site)
    return {"error": None, "sites": kept}


def command_sites(out, paths):
    with open(out, "w") as handle:
        json.dump({path: sites_for(path) for path in paths}, handle)


def command_check(out, root):
    results = {}
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root)
            with open(path, "rb") as handle:
                data = handle.read()
            try:
                compile(data, relative, "exec", dont_inherit=True)
                results[relative] = None
            except (SyntaxError, ValueError) as error:
                line = getattr(error, "lineno", None)
                results[relative] = "%s: %s%s" % (type(error).__name__, getattr(error, "msg", error),
                                                  " (line %d)" % line if line else "")
    with open(out, "w") as handle:
        json.dump(results, handle)


# ---------------------------------------------------------------------------------------------
# Test runs with evidence and a call map

class Recorder:
    def __init__(self, root, trace):
        self.root = os.path.realpath(root) + os.sep
        self.trace = trace
        self.tests = {}
        self.collection_errors = []
        self.current = None
        self.test_code = None
        self.touched = None
        self.functions = None

    # The tracer only sees call events (it returns None, so no line tracing): cheap.
    def tracer(self, frame, event, arg):
        filename = frame.f_code.co_filename
        if filename.startswith(self.root):
            relative = filename[len(self.root):]
            function = "%s:%d" % (relative, frame.f_code.co_firstlineno)
            known = self.functions.get(function)
            if known != 0:
                depth, walker = 0, frame
                while walker is not None and walker.f_code is not self.test_code and depth < 64:
                    walker = walker.f_back
                    depth += 1
                if walker is None:
                    depth = 64  # reached from a fixture or setup, not the test function
                if known is None or depth < known:
                    self.functions[function] = depth
                    if depth < self.touched.get(relative, 65):
                        self.touched[relative] = depth
        return None

    def entry(self, nodeid):
        return self.tests.setdefault(nodeid, {"outcome": "passed", "duration": 0.0, "message": None,
                                              "traceback": None, "files": {}, "functions": {}})

    def pytest_runtest_protocol(self, item, nextitem):
        self.current = item.nodeid
        if self.trace:
            self.touched = {}
            self.functions = {}
            self.test_code = getattr(getattr(item, "obj", None), "__code__", None)
            sys.settrace(self.tracer)
            try:
                import threading
                threading.settrace(self.tracer)
            except Exception:
                pass
        return None

    def pytest_runtest_logreport(self, report):
        entry = self.entry(report.nodeid)
        entry["duration"] += getattr(report, "duration", 0.0)
        if report.failed and entry["outcome"] != "failed":
            entry["outcome"] = "failed"
            crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
            message = getattr(crash, "message", None)
            if not message:
                lines = str(report.longrepr).splitlines()
                message = lines[-1] if lines else "failed in " + report.when
            entry["message"] = message
            text = getattr(report, "longreprtext", "") or ""
            entry["traceback"] = "\n".join(text.splitlines()[-25:])
        elif report.skipped and report.when in ("setup", "call") and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
        if report.when == "teardown" and self.trace and self.touched is not None:
            sys.settrace(None)
            try:
                import threading
                threading.settrace(None)
            except Exception:
                pass
            entry["files"] = dict(self.touched)
            entry["functions"] = dict(self.functions)
            self.touched = None

    def pytest_collectreport(self, report):
        if report.failed:
            text = getattr(report, "longreprtext", "") or str(report.longrepr)
            self.collection_errors.append({"nodeid": report.nodeid, "message": "\n".join(text.splitlines()[-15:])})


def command_run(arguments):
    out, trace = None, False
    while arguments and arguments[0] != "--":
        flag = arguments.pop(0)
        if flag == "--out":
            out = arguments.pop(0)
        elif flag == "--trace":
            trace = True
    arguments = arguments[1:]
    import pytest
    recorder = Recorder(os.getcwd(), trace)
    started = time.time()
    status = pytest.main(arguments, plugins=[recorder])
    sys.settrace(None)
    with open(out, "w") as handle:
        json.dump({"exit_status": int(status), "seconds": time.time() - started, "tests": recorder.tests,
                   "collection_errors": recorder.collection_errors}, handle)
    return int(status)


def main():
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "sites":
        command_sites(arguments[0], arguments[1:])
    elif command == "check":
        command_check(arguments[0], arguments[1])
    elif command == "run":
        sys.exit(command_run(arguments))
    else:
        sys.exit("unknown command %r (expected sites, check or run)" % command)


if __name__ == "__main__":
    main()
