"""Stage 3, planning: refresh live objects, diff desired against applied, decide actions, render, save.

    observed = refresh(state, providers)     # refresh: listing calls only; None for --refresh=false
    plan = make_plan(stacks, state, observed, targets=[...], salt=state.lineage)  # actions
    render_text(plan) / render_json(plan)    # render
    save_plan(path, plan, stacks, state, observed)  # planfile

``diff`` compares specs field by field, ``cost`` prices a plan, ``preflight`` checks the live
workspace before a cold start, ``canonical`` gives the stable forms plans compare by.

Nothing here writes state or calls a platform's mutating API. This file stays a docstring: import
the module you need (``nimctl.plan.actions``, ``nimctl.plan.refresh``, ...).
"""
