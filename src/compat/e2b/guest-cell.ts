/**
 * @module
 * Python source of `_wr_e2b`, part 3 of 3: the code interpreter's cells and contexts, and the table of
 * operations. A context is a namespace of its own in the world's interpreter ("default" is the world's
 * main namespace, the one `World.exec` uses), so contexts are forked with the world like everything else.
 * A cell runs like a notebook cell: the value of a trailing expression (unless it ends with ";") is its
 * main result, with the rich representations IPython would offer (`_repr_html_`, `_repr_png_`, ...);
 * `display(x)` adds more results; matplotlib figures left open are rendered as PNG results.
 */
export const GUEST_CELL = String.raw`
REPRS = (("_repr_html_", "html"), ("_repr_markdown_", "markdown"), ("_repr_svg_", "svg"), ("_repr_png_", "png"),
         ("_repr_jpeg_", "jpeg"), ("_repr_pdf_", "pdf"), ("_repr_latex_", "latex"), ("_repr_json_", "json"),
         ("_repr_javascript_", "javascript"))
MIMES = {"text/plain": "text", "text/html": "html", "text/markdown": "markdown", "image/svg+xml": "svg",
         "image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf", "text/latex": "latex",
         "application/json": "json", "application/javascript": "javascript"}


class Cell:
    results = None


def _fmt(key, v):
    if isinstance(v, tuple) and v:
        v = v[0]
    if isinstance(v, (bytes, bytearray)):
        return _b64(bytes(v))
    if key == "json":
        return v if isinstance(v, (dict, list)) else None
    return v if isinstance(v, str) else None


def _bundle(v, main):
    d = {}
    try:
        text = repr(v)
    except BaseException as e:
        text = "<repr failed: %s: %s>" % (type(e).__name__, e)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    d["text"] = text
    if not isinstance(v, type):
        for attr, key in REPRS:
            try:
                f = getattr(v, attr, None)
                r = f() if callable(f) else None
            except BaseException:
                r = None
            r = _fmt(key, r) if r is not None else None
            if r is not None:
                d[key] = r
        try:
            f = getattr(v, "_repr_mimebundle_", None)
            mb = f() if callable(f) else None
        except BaseException:
            mb = None
        if isinstance(mb, tuple) and mb:
            mb = mb[0]
        if isinstance(mb, dict):
            extra = {}
            for mime, val in mb.items():
                key = MIMES.get(mime)
                r = _fmt(key or "", val)
                if key and r is not None:
                    d[key] = r
                elif isinstance(mime, str) and r is not None:
                    extra[mime] = r
            if extra:
                d["extra"] = extra
    d["is_main_result"] = main
    return d


def display(*objs, **kwargs):
    for o in objs:
        if Cell.results is None:
            print(repr(o))
        else:
            Cell.results.append(_bundle(o, False))


def _figures(results):
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        import io
        for num in plt.get_fignums():
            fig = plt.figure(num)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            results.append({"text": repr(fig), "png": _b64(buf.getvalue()), "is_main_result": False})
        plt.close("all")
    except BaseException:
        pass


def _traceback(e):
    import traceback
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<cell>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def _fresh():
    return {"__name__": "__main__", "__builtins__": builtins}


def _context(cid):
    c = St.contexts.get(cid)
    if c is None:
        if cid != "default":
            raise Fault("not_found", "Context %s not found" % cid)
        c = St.contexts["default"] = {"ns": None, "cwd": HOME, "count": 0}
    return c


def op_ctx_new(a, g):
    cwd = a.get("cwd") or HOME
    if not os.path.isdir(cwd):
        raise Fault("invalid_argument", "Failed to set working directory: %r is not a directory" % cwd)
    St.contexts[a["id"]] = {"ns": _fresh(), "cwd": cwd, "count": 0}
    return {}


def op_ctx_restart(a, g):
    c = _context(a["id"])
    if c["ns"] is None:
        keep = {k: g[k] for k in ("__name__", "__builtins__") if k in g}
        g.clear()
        g.update(keep)
    else:
        c["ns"] = _fresh()
    c["count"] = 0
    return {}


def op_ctx_remove(a, g):
    if a["id"] == "default" or St.contexts.pop(a["id"], None) is None:
        raise Fault("not_found", "Context %s not found" % a["id"])
    return {}


def op_cell(a, g):
    c = _context(a.get("ctx") or "default")
    ns = g if c["ns"] is None else c["ns"]
    c["count"] += 1
    results, error = [], None
    env = a.get("env") or {}
    saved = {k: os.environ.get(k) for k in env}
    here = os.getcwd()
    Cell.results = results
    if not hasattr(builtins, "display"):
        builtins.display = display
    try:
        os.environ.update(env)
        try:
            os.chdir(c["cwd"])
        except OSError:
            pass
        code = a["code"]
        tree = compile(code, "<cell>", "exec", _ast.PyCF_ONLY_AST)
        tail = None
        if tree.body and isinstance(tree.body[-1], _ast.Expr) and not code.rstrip().endswith(";"):
            tail = _ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), ns)
        if tail is not None:
            value = eval(compile(tail, "<cell>", "eval"), ns)
            if value is not None:
                ns["_"] = value
                results.append(_bundle(value, True))
    except BaseException as e:
        error = {"name": type(e).__name__, "value": str(e), "traceback": _traceback(e)}
    finally:
        Cell.results = None
        try:
            c["cwd"] = os.getcwd()
            os.chdir(here)
        except OSError:
            pass
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _figures(results)
    return {"results": results, "error": error, "count": c["count"]}


OPS = {
    "init": op_init, "spawn": op_spawn, "pinfo": op_pinfo, "plist": op_plist, "input": op_input,
    "signal": op_signal, "forget": op_forget, "tick": op_tick, "stat": op_stat, "list": op_list,
    "mkdir": op_mkdir, "move": op_move, "remove": op_remove, "read": op_read, "write": op_write,
    "watch_add": op_watch_add, "watch_remove": op_watch_remove, "ctx_new": op_ctx_new,
    "ctx_restart": op_ctx_restart, "ctx_remove": op_ctx_remove, "cell": op_cell,
}
`;
