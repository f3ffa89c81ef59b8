"""The assignments' tests tell right from wrong, and cannot be spoofed.

Each instructor notebook in ``autograder/source`` runs once in a kernel (no
nbgrader needed): its solutions must pass every test cell. Then, for every
graded item, plausible wrong answers (an off-by-one, a transposed axis,
bilinear instead of nearest, the tf.keras 2 answer...) replace the solution
and the item's test cell, hidden tests included, must fail; and tricks that
used to take points without an answer (an object equal to everything, a
patched NumPy function, an AST transformer, a custom display hook, a rebound
built-in) must make the test cells fail too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "autograder" / "source"

# answer grade_id -> wrong answers, each rejected by that item's test cell.
WRONG_ANSWERS = {
    "01_concepts": {
        "scores_to_labels": [
            "def scores_to_labels(scores):\n    return np.argmax(scores, axis=0)",
            "def scores_to_labels(scores):\n"
            "    return np.argmax(np.asarray(scores), axis=-1) + 1",
            "def scores_to_labels(scores):\n"
            "    return np.argmax(np.asarray(scores), axis=-1).tolist()",
            "def scores_to_labels(scores):\n"
            "    return np.argmax(np.asarray(scores), axis=-1).T",
        ],
        "instances_to_semantic": [
            "def instances_to_semantic(instance_map, instance_classes):\n"
            "    table = np.zeros(np.max(instance_map) + 2, int)\n"
            "    for i, c in instance_classes.items():\n"
            "        table[i - 1] = c\n"
            "    return table[np.asarray(instance_map)]",
            "def instances_to_semantic(instance_map, instance_classes):\n"
            "    return np.asarray(instance_map)",
        ],
        "class_pixel_share": [
            "def class_pixel_share(labels, num_classes):\n"
            "    labels = np.asarray(labels).ravel()\n"
            "    counts = np.bincount(labels[labels != 255], minlength=num_classes)\n"
            "    return counts / labels.size",
            "def class_pixel_share(labels, num_classes):\n"
            "    labels = np.asarray(labels).ravel()\n"
            "    counts = np.bincount(labels[labels != 255], minlength=num_classes)\n"
            "    return (counts / counts.sum()).astype(np.float16)[1:]",
        ],
        "unet_skip": ['unet_skip_answer = "A"', 'unet_skip_answer = "b"'],
    },
    "02_data_preparation": {
        "rgb_to_palette_indices": [
            "def rgb_to_palette_indices(rgb_image, palette_colors):\n"
            "    red = np.asarray(rgb_image)[..., 0]\n"
            "    reds = np.asarray(palette_colors)[:, 0]\n"
            "    return np.argmax(red[..., None] == reds, axis=-1)",
            "def rgb_to_palette_indices(rgb_image, palette_colors):\n"
            "    hits = np.all(np.asarray(rgb_image)[:, :, None] ==\n"
            "                  np.asarray(palette_colors)[None, None], axis=-1)\n"
            "    return np.argmax(hits, axis=-1)",
            "def rgb_to_palette_indices(rgb_image, palette_colors):\n"
            "    hits = np.all(np.asarray(rgb_image)[:, :, None] ==\n"
            "                  np.asarray(palette_colors)[None, None], axis=-1)\n"
            "    if not hits.any(-1).all():\n"
            "        raise ValueError('unknown colour')\n"
            "    return np.argmax(hits, axis=-1).T",
        ],
        "make_dataset": [
            "def make_dataset(images, masks):\n"
            "    def prepare(image, mask):\n"
            "        mask = tf.image.resize(mask, (64, 64), method='bilinear')\n"
            "        return (image - 128.0) / 255.0, mask\n"
            "    data = tf.data.Dataset.from_tensor_slices((images, masks))\n"
            "    data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)\n"
            "    return data.batch(32).repeat(5).prefetch(tf.data.AUTOTUNE)",
            "def make_dataset(images, masks):\n"
            "    def prepare(image, mask):\n"
            "        mask = tf.image.resize(mask, (64, 64), method='nearest')\n"
            "        return (image - 128.0) / 255.0, mask\n"
            "    data = tf.data.Dataset.from_tensor_slices((images, masks))\n"
            "    data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)\n"
            "    return data.repeat(5).batch(32).prefetch(tf.data.AUTOTUNE)",
            "def make_dataset(images, masks):\n"
            "    def prepare(image, mask):\n"
            "        mask = tf.image.resize(mask, (64, 64), method='nearest')\n"
            "        return image / 255.0, mask\n"
            "    data = tf.data.Dataset.from_tensor_slices((images, masks))\n"
            "    data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)\n"
            "    return data.batch(32).repeat(5).prefetch(tf.data.AUTOTUNE)",
        ],
        "crop_pair": [
            "def crop_pair(image, mask, top, left, height, width):\n"
            "    return (image[left:left + width, top:top + height],\n"
            "            mask[left:left + width, top:top + height])",
            "def crop_pair(image, mask, top, left, height, width):\n"
            "    if top + height > image.shape[0] or left + width > image.shape[1]:\n"
            "        raise ValueError('outside')\n"
            "    return (image[top:top + height, left:left + width],\n"
            "            mask[top + 1:top + height + 1, left:left + width])",
            "def crop_pair(image, mask, top, left, height, width):\n"
            "    return (image[top:top + height, left:left + width],\n"
            "            mask[top:top + height, left:left + width])",
        ],
    },
    "03_atrous_convolution": {
        "effective_kernel_size": [
            "def effective_kernel_size(kernel_size, rate):\n"
            "    return kernel_size * rate",
            "def effective_kernel_size(kernel_size, rate):\n"
            "    return kernel_size + (kernel_size - 1) * rate",
            "def effective_kernel_size(kernel_size, rate):\n"
            "    return float(kernel_size + (kernel_size - 1) * (rate - 1))",
        ],
        "dilate_kernel": [
            "def dilate_kernel(kernel, rate):\n"
            "    kernel = np.asarray(kernel, dtype=float)\n"
            "    size = effective_kernel_size(len(kernel), rate)\n"
            "    out = np.zeros((size, size))\n"
            "    out[::rate, ::rate] = kernel.T\n"
            "    return out",
            "def dilate_kernel(kernel, rate):\n"
            "    kernel = np.asarray(kernel, dtype=float)\n"
            "    out = np.zeros((len(kernel) * rate, len(kernel) * rate))\n"
            "    out[::rate, ::rate] = kernel\n"
            "    return out",
        ],
        "atrous_conv1d": [
            "def atrous_conv1d(signal, kernel, rate):\n"
            "    spread = np.zeros(effective_kernel_size(len(kernel), rate))\n"
            "    spread[::rate] = kernel\n"
            "    return np.convolve(signal, spread, mode='valid')",
            "def atrous_conv1d(signal, kernel, rate):\n"
            "    spread = np.zeros(effective_kernel_size(len(kernel), rate))\n"
            "    spread[::rate] = kernel\n"
            "    return np.correlate(signal, spread, mode='same')",
        ],
        "receptive_field": [
            "def receptive_field(layers):\n"
            "    field, jump = 1, 1\n"
            "    for kernel_size, stride, rate in layers:\n"
            "        jump *= stride\n"
            "        field += (effective_kernel_size(kernel_size, rate) - 1) * jump\n"
            "    return field",
            "def receptive_field(layers):\n"
            "    field, jump = 1, 1\n"
            "    for kernel_size, stride, rate in layers:\n"
            "        field += (kernel_size - 1) * jump\n"
            "        jump *= stride\n"
            "    return field",
        ],
    },
    "04_deeplabv3": {
        "q1": ['q1_answer = "A"'],
        "q2": ['q2_answer = {"C"}', 'q2_answer = {"A", "C", "E"}', 'q2_answer = "AC"'],
        "q3": ["q3_answer = False", "q3_answer = 1"],
        "q4": ["q4_answer = True", "q4_answer = 0"],
        "q5": [
            'q5_answer = "pyramid pooling module"',
            'q5_answer = "feature pyramid network"',
            'q5_answer = "image pooling"',
        ],
        "aug_aspp": [
            "def aug_aspp(out_1, out_2):\n"
            "    layers = keras.layers\n"
            "    def atrous(rate):\n"
            "        return layers.Conv2D(128, 3, dilation_rate=rate,\n"
            "                             padding='same', activation='relu')\n"
            "    first = atrous(16)(out_1)\n"
            "    second = layers.Concatenate()([atrous(8)(out_1), atrous(8)(out_2)])\n"
            "    joined = layers.Concatenate()([layers.Conv2D(64, 1)(first),\n"
            "                                   layers.Conv2D(64, 1)(second)])\n"
            "    up = layers.UpSampling2D(2, interpolation='nearest')(joined)\n"
            "    return layers.Activation('sigmoid')(up)",
            "def aug_aspp(out_1, out_2):\n"
            "    layers = keras.layers\n"
            "    def atrous(rate):\n"
            "        return layers.Conv2D(128, 3, dilation_rate=rate,\n"
            "                             padding='same', activation='relu')\n"
            "    first = atrous(8)(out_1)\n"
            "    second = layers.Concatenate()([atrous(16)(out_1),\n"
            "                                   atrous(16)(out_2)])\n"
            "    joined = layers.Concatenate()([layers.Conv2D(64, 1)(first),\n"
            "                                   layers.Conv2D(64, 1)(second)])\n"
            "    up = layers.UpSampling2D(2, interpolation='bilinear')(joined)\n"
            "    return layers.Activation('sigmoid')(up)",
            "def aug_aspp(out_1, out_2):\n"
            "    layers = keras.layers\n"
            "    def atrous(rate):\n"
            "        return layers.Conv2D(128, 3, dilation_rate=rate,\n"
            "                             padding='same', activation='relu')\n"
            "    first = atrous(16)(out_1)\n"
            "    second = layers.Concatenate()([atrous(8)(out_1), atrous(8)(out_2)])\n"
            "    joined = layers.Concatenate()([\n"
            "        layers.Conv2D(64, 1, activation='relu')(first),\n"
            "        layers.Conv2D(64, 1, activation='relu')(second)])\n"
            "    return layers.UpSampling2D(2, interpolation='bilinear')(joined)",
        ],
        "disjoint_union": [
            "def disjoint_union(y_true, y_pred):\n"
            "    return y_true + y_pred - y_true * y_pred",
            "def disjoint_union(y_true, y_pred):\n    return abs(y_true - y_pred)",
            "def disjoint_union(y_true, y_pred):\n"
            "    return np.logical_xor(y_true, y_pred).astype(float)",
        ],
        "steps_per_epoch": [
            "def steps_per_epoch(num_samples, train_fraction, train_batch_size,\n"
            "                    val_batch_size):\n"
            "    num_train = int(num_samples * train_fraction)\n"
            "    return (num_train // train_batch_size,\n"
            "            (num_samples - num_train) // val_batch_size)",
            "def steps_per_epoch(num_samples, train_fraction, train_batch_size,\n"
            "                    val_batch_size):\n"
            "    num_train = round(num_samples * train_fraction)\n"
            "    return (-(-num_train // train_batch_size),\n"
            "            -(-(num_samples - num_train) // val_batch_size))",
            "def steps_per_epoch(num_samples, train_fraction, train_batch_size,\n"
            "                    val_batch_size):\n"
            "    import math\n"
            "    num_train = int(num_samples * train_fraction)\n"
            "    return (math.ceil(num_train / train_batch_size) * 1.0,\n"
            "            math.ceil((num_samples - num_train) / val_batch_size) * 1.0)",
        ],
    },
    "05_unet_pets": {
        "trimap_to_labels": [
            "def trimap_to_labels(trimap):\n    return np.asarray(trimap) - 1",
            "def trimap_to_labels(trimap):\n"
            "    return (np.asarray(trimap) % 3).astype(np.int32)",
            "def trimap_to_labels(trimap):\n"
            "    return (np.asarray(trimap).astype(np.int32) - 1)",
        ],
        "balanced_class_weights": [
            "def balanced_class_weights(masks, num_classes):\n"
            "    counts = np.bincount(np.ravel(masks), minlength=num_classes)\n"
            "    return 1.0 / np.maximum(counts, 1)",
            "def balanced_class_weights(masks, num_classes):\n"
            "    counts = np.bincount(np.ravel(masks), minlength=num_classes)\n"
            "    present = counts > 0\n"
            "    weights = np.zeros(num_classes)\n"
            "    weights[present] = counts.sum() / (present.sum() * counts[present])\n"
            "    return weights",
        ],
        "pixel_sample_weights": [
            "def pixel_sample_weights(masks, class_weights):\n"
            "    return np.take(np.asarray(class_weights), np.asarray(masks))",
            "def pixel_sample_weights(masks, class_weights):\n"
            "    table = np.asarray(class_weights, dtype=np.float32)\n"
            "    return table[np.asarray(masks).ravel()]",
            "def pixel_sample_weights(masks, class_weights):\n"
            "    table = np.asarray(class_weights, dtype=np.float32)\n"
            "    return table[np.asarray(masks)].tolist()",
        ],
        "class_weight_question": [
            'class_weight_answer = "A"',  # the tf.keras 2 answer
            'class_weight_answer = "B"',
        ],
    },
    "06_evaluation": {
        "get_top_bad_examples": [
            # The book's formula: the sum of prediction x target, largest first.
            "def get_top_bad_examples(model, batch_images, batch_targets, n):\n"
            "    right = np.sum(model.predict(batch_images) * batch_targets,\n"
            "                   axis=(1, 2, 3))\n"
            "    return np.argsort(-right)[:n]",
            "def get_top_bad_examples(model, batch_images, batch_targets, n):\n"
            "    right = np.sum(model.predict(batch_images) * batch_targets, axis=-1)\n"
            "    losses = np.mean(1 - right, axis=(1, 2))\n"
            "    return np.argsort(losses)[:n]",
            "def get_top_bad_examples(model, batch_images, batch_targets, n):\n"
            "    right = np.sum(model.predict(batch_images) * batch_targets, axis=-1)\n"
            "    losses = np.mean(1 - right, axis=(1, 2))\n"
            "    return np.argsort(-losses)[:n + 1]",
        ],
        "confusion_matrix": [
            "def confusion_matrix(labels, predictions, num_classes):\n"
            "    labels, predictions = np.ravel(labels), np.ravel(predictions)\n"
            "    keep = labels != 255\n"
            "    pairs = predictions[keep] * num_classes + labels[keep]\n"
            "    counts = np.bincount(pairs, minlength=num_classes ** 2)\n"
            "    return counts.reshape(num_classes, num_classes)",
            "def confusion_matrix(labels, predictions, num_classes):\n"
            "    labels, predictions = np.ravel(labels), np.ravel(predictions)\n"
            "    keep = labels != 255\n"
            "    pairs = labels[keep] * num_classes + predictions[keep]\n"
            "    counts = np.bincount(pairs, minlength=num_classes ** 2)\n"
            "    return counts.reshape(num_classes, num_classes).astype(np.int32)",
        ],
        "iou_from_confusion": [
            "def iou_from_confusion(matrix):\n"
            "    matrix = np.asarray(matrix, dtype=float)\n"
            "    per_class = np.diag(matrix) / np.maximum(matrix.sum(1), 1)\n"
            "    return per_class, float(per_class.mean())",
            "def iou_from_confusion(matrix):\n"
            "    matrix = np.asarray(matrix, dtype=float)\n"
            "    tp = np.diag(matrix)\n"
            "    union = matrix.sum(0) + matrix.sum(1) - tp\n"
            "    per_class = tp / np.maximum(union, 1)\n"
            "    return per_class, float(per_class.mean())",
        ],
        "replace_background": [
            "def replace_background(image, labels, color):\n"
            "    labels = np.asarray(labels)\n"
            "    return np.where((labels == 0)[..., None], color, image)",
            "def replace_background(image, labels, color):\n"
            "    labels = np.asarray(labels)\n"
            "    image[(labels == 0) | (labels == 255)] = color\n"
            "    return image",
        ],
    },
}

# Other right answers, written as honest students do: each must pass.
RIGHT_ANSWERS = {
    "01_concepts": {
        "scores_to_labels": [
            "def scores_to_labels(scores):\n    return np.asarray(scores).argmax(-1)"
        ],
    },
    "04_deeplabv3": {
        "q2": ['q2_answer = frozenset("AC")'],
        "q5": [
            'q5_answer = "spatial pyramid pooling"',
            'q5_answer = "SPP"',
            'q5_answer = "ASPP"',
            'q5_answer = "Atrous Spatial Pyramid Pooling"',
            'q5_answer = "the ASPP module"',
        ],
        "steps_per_epoch": [
            "import math\n"
            "def steps_per_epoch(num_samples, train_fraction, train_batch_size,\n"
            "                    val_batch_size):\n"
            "    num_train = math.floor(num_samples * train_fraction)\n"
            "    return [math.ceil(num_train / train_batch_size),\n"
            "            math.ceil((num_samples - num_train) / val_batch_size)]"
        ],
    },
    "05_unet_pets": {
        "pixel_sample_weights": [
            "def pixel_sample_weights(masks, class_weights):\n"
            "    return np.asarray(class_weights, np.float32)[np.asarray(masks)]"
        ],
    },
    "06_evaluation": {
        "get_top_bad_examples": [
            "def get_top_bad_examples(model, batch_images, batch_targets, n):\n"
            "    right = (model.predict(batch_images) * batch_targets).sum(-1)\n"
            "    losses = (1 - right).mean(axis=(1, 2))\n"
            "    return list(np.argsort(-losses, kind='stable')[:n])"
        ],
    },
}
"""Answers that differ in form from the solution: each must earn its points."""


# Tricks that took points without an answer, as a student would write them in
# an answer cell: the trick, then the value every answer is replaced with.
SPOOFS = {
    "str_equal_to_everything": (
        "class Anything(str):\n"
        "    __hash__ = str.__hash__\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    def __ne__(self, other):\n"
        "        return False",
        "Anything('A')",
    ),
    "array_equal_to_everything": (
        "class AnyArray(np.ndarray):\n"
        "    def __eq__(self, other):\n"
        "        return True",
        "np.zeros((2, 2), np.int64).view(AnyArray)",
    ),
    "int_equal_to_everything": (
        "class Int(int):\n"
        "    __hash__ = int.__hash__\n"
        "    def __eq__(self, other):\n"
        "        return True",
        "Int(0)",
    ),
    "patched_numpy": (
        "np.allclose = lambda *args, **kwargs: True\n"
        "np.array_equal = lambda *args, **kwargs: True",
        "np.zeros(3)",
    ),
    "ast_transformer_drops_asserts": (
        "import ast\n"
        "class DropAsserts(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return None\n"
        "get_ipython().ast_transformers.append(DropAsserts())",
        "None",
    ),
    "input_transformer": (
        "get_ipython().input_transformers_post.append(\n"
        "    lambda lines: [line.replace('assert ', 'assert True or ')\n"
        "                   for line in lines])",
        "None",
    ),
    "custom_displayhook": ("import sys\nsys.displayhook = lambda value: None", "None"),
    "rebound_builtins": (
        "def isinstance(*args):\n    return True\ntype = lambda value: str",
        "None",
    ),
}


def _answer_names(source: str) -> list[tuple[str, bool]]:
    """(name, is_function) for what an answer cell defines."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append((node.name, True))
        elif isinstance(node, ast.Assign):
            names += [(t.id, False) for t in node.targets if isinstance(t, ast.Name)]
    return names


def _spoofed_answers(source: str, value: str) -> str:
    lines = []
    for name, is_function in _answer_names(source):
        lines.append(
            f"def {name}(*args, **kwargs):\n    return {value}"
            if is_function
            else f"{name} = {value}"
        )
    return "\n".join(lines)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _cell(nb, grade_id):
    return next(c for c in nb.cells if _nbgrader(c).get("grade_id") == grade_id)


def _items(nb) -> list[tuple[str, str]]:
    """(answer grade_id, test grade_id) of every auto-graded code item, in order."""
    items, answer = [], None
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution") and cell.cell_type == "code":
            answer = meta["grade_id"]
        elif meta.get("grade") and cell.cell_type == "code" and meta.get("points"):
            items.append((answer, meta["grade_id"]))
    return items


def _code(source: str, tag: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tag"] = tag
    return cell


def _errors(cell) -> list[str]:
    return [
        f"{o.get('ename', '')}: {o.get('evalue', '')[:300]}"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def _run(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": "."}},
    )
    return client.execute()


def _execute(name: str, folder: Path):
    """One assignment's source, then every wrong answer and spoof, executed."""
    source = nbformat.read(str(SOURCE / name / f"{name}.ipynb"), as_version=4)
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [c for c in source.cells if c.cell_type == "code"]
    for cell in nb.cells:
        cell.metadata["tag"] = f"source:{_nbgrader(cell).get('grade_id')}"
    items = _items(source)
    for answer_id, test_id in items:
        solution = _cell(source, answer_id).source
        test = _cell(source, test_id).source
        for index, wrong in enumerate(WRONG_ANSWERS[name].get(answer_id, [])):
            nb.cells += [
                _code(wrong, f"wrong-answer:{answer_id}:{index}"),
                _code(test, f"wrong-test:{answer_id}:{index}"),
                _code(solution, "restore"),
            ]
        for index, right in enumerate(RIGHT_ANSWERS.get(name, {}).get(answer_id, [])):
            nb.cells += [
                _code(right, f"right-answer:{answer_id}:{index}"),
                _code(test, f"right-test:{answer_id}:{index}"),
                _code(solution, "restore"),
            ]
    for spoof, (code, value) in SPOOFS.items():
        nb.cells.append(_code(code, f"spoof-answer:{spoof}"))
        nb.cells += [
            _code(
                _spoofed_answers(_cell(source, answer_id).source, value),
                f"spoof-answer:{spoof}:{answer_id}",
            )
            for answer_id, _ in items
        ]
        nb.cells += [
            _code(_cell(source, test_id).source, f"spoof-test:{spoof}:{test_id}")
            for _, test_id in items
        ]
        # Undo the trick (instructor code, only here) before the next one.
        nb.cells.append(
            _code(
                "import sys as _sys, builtins as _builtins\n"
                "_shell = get_ipython()\n"
                "_shell.ast_transformers.clear()\n"
                "_shell.input_transformers_post.clear()\n"
                "_sys.displayhook = _shell.displayhook\n"
                "np.allclose, np.array_equal = _seglab.allclose, _seglab.array_equal\n"
                "for _name in ('isinstance', 'type'):\n"
                "    globals().pop(_name, None)",
                "restore",
            )
        )
        nb.cells += [
            _code(_cell(source, answer_id).source, "restore") for answer_id, _ in items
        ]
    executed = _run(nb)
    nbformat.write(executed, str(folder / f"{name}.ipynb"))
    return name, items, executed


def _tagged(nb, prefix):
    return [c for c in nb.cells if c.metadata.get("tag", "").startswith(prefix)]


@pytest.mark.parametrize("name", sorted(WRONG_ANSWERS))
def test_every_graded_item_has_wrong_answers(name):
    source = nbformat.read(str(SOURCE / name / f"{name}.ipynb"), as_version=4)
    items = _items(source)
    assert {answer for answer, _ in items} == set(WRONG_ANSWERS[name])
    assert all(WRONG_ANSWERS[name].values())


@pytest.mark.parametrize("name", sorted(WRONG_ANSWERS))
def test_tests_pass_right_answers_and_reject_wrong_answers_and_spoofs(name, tmp_path):
    """One kernel per assignment (a few seconds; 02 and 04 import TensorFlow)."""
    _, items, nb = _execute(name, tmp_path)
    problems = {}

    # The solutions, and the cells that put them back, pass every test.
    problems["solution fails"] = [
        (c.metadata["tag"], _errors(c))
        for c in _tagged(nb, "source:") + _tagged(nb, "restore")
        if _errors(c)
    ]

    # Every wrong answer runs, and its item's tests reject it.
    answers, tests = _tagged(nb, "wrong-answer:"), _tagged(nb, "wrong-test:")
    assert len(answers) == len(tests) == sum(map(len, WRONG_ANSWERS[name].values()))
    problems["wrong answer does not run"] = [
        (c.metadata["tag"], _errors(c)) for c in answers if _errors(c)
    ]
    problems["wrong answer accepted"] = [
        t.metadata["tag"] for t in tests if not _errors(t)
    ]

    # Right answers in another form pass.
    cells = _tagged(nb, "right-")
    assert len(cells) == 2 * sum(map(len, RIGHT_ANSWERS.get(name, {}).values()))
    problems["right answer rejected"] = [
        (c.metadata["tag"], _errors(c)) for c in cells if _errors(c)
    ]

    # Question 5 of 04: "spatial pyramid pooling" and "SPP" (the course
    # material's words) earn the points with a note that ASPP is the precise
    # name; the ASPP wordings get no note.
    printed = {
        c.metadata["tag"]: "".join(o.get("text", "") for o in c.outputs)
        for c in _tagged(nb, "right-test:q5:")
    }
    notes = sorted(tag for tag, text in printed.items() if "(ASPP)" in text)
    expected = ["right-test:q5:0", "right-test:q5:1"] if name == "04_deeplabv3" else []
    if notes != expected:
        problems["question 5 note"] = [printed]

    # Every trick runs, and every test cell after it fails.
    problems["spoof does not run"] = [
        (c.metadata["tag"], _errors(c))
        for c in _tagged(nb, "spoof-answer:")
        if _errors(c)
    ]
    tests = _tagged(nb, "spoof-test:")
    assert len(tests) == len(SPOOFS) * len(items)
    problems["spoofed test passed"] = [
        t.metadata["tag"] for t in tests if not _errors(t)
    ]

    problems = {kind: found for kind, found in problems.items() if found}
    assert not problems, f"{name} (executed notebook in {tmp_path}): {problems}"


LESSONS = REPO / "lessons"


@pytest.mark.parametrize("name", sorted(WRONG_ANSWERS))
def test_each_lesson_ends_by_listing_its_assignment(name):
    """The last cell names the assignment, its points and one entry per item."""
    source = nbformat.read(str(SOURCE / name / f"{name}.ipynb"), as_version=4)
    points = sum(
        _nbgrader(c).get("points", 0) for c in source.cells if _nbgrader(c).get("grade")
    )
    last = nbformat.read(str(LESSONS / f"{name}.ipynb"), as_version=4).cells[-1]
    graded = last.source[last.source.index("**Graded assignment**") :]
    assert f"autograder/source/{name}" in graded
    assert f"{points:g} points" in graded, (name, points)
    entries = [
        line
        for line in graded.splitlines()
        if line[:3] in {"1. ", "2. ", "3. ", "4. ", "5. "}
    ]
    items = _items(source)
    quiz = [test for _, test in items if test.startswith("test_q")]
    # The quiz is one entry (and says so); every other item has its own.
    assert len(entries) == len(items) - len(quiz) + bool(quiz), (name, entries)
    if quiz:
        assert "course quiz" in graded and f"{len(quiz)}" in graded


def test_steps_per_epoch_is_graded_with_the_lesson_that_teaches_it():
    taught = nbformat.read(str(LESSONS / "04_deeplabv3.ipynb"), as_version=4)
    assert any(
        "steps_per_epoch" in c.source for c in taught.cells if c.cell_type == "code"
    )
    for name in WRONG_ANSWERS:
        source = nbformat.read(str(SOURCE / name / f"{name}.ipynb"), as_version=4)
        answers = {answer for answer, _ in _items(source)}
        assert ("steps_per_epoch" in answers) == (name == "04_deeplabv3"), name
