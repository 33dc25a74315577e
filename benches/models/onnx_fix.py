# What the benchmark exporters share: fixes to torch.onnx.export's output.
import numpy as np
from onnx import numpy_helper


def fix_split(m):
    """Opset-17 Split has no `num_outputs` attribute: give it explicit `split` sizes."""
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output)}
    for n in m.graph.node:
        at = {a.name: a for a in n.attribute}
        if n.op_type != "Split" or "num_outputs" not in at: continue
        k, axis = at["num_outputs"].i, at["axis"].i if "axis" in at else 0
        d = shapes[n.input[0]][axis]
        m.graph.initializer.append(numpy_helper.from_array(np.full(k, d // k, np.int64), n.name + "_split"))
        n.input[1:] = [n.name + "_split"]; n.attribute.remove(at["num_outputs"])
