"""Train the reference generator: the inpainter that also sees another photo of the same person.

    python -m training.train_reference --data data_cache --references data_cache_rof --out runs/reference \\
        --encoder resources/weights/encoder.pt --init resources/weights/generator.pt --max-minutes 60 --resume

The inpainter's trainer (`training.train_inpainter`, same config file, same losses) with the
generator built with `reference=True` and every sample given a reference (`training.reference_data`):
real pairs from the clean ROF photos of the training people, self-references for the other faces,
none for a share of samples. With `--init` a reference-less generator starts it with the reference
input at zero, i.e. exactly as that generator. With a reference, the identity vector that conditions
the generator is the encoder's vector of the reference (a clean photo says more than the occluded one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from training.data import FaceCache, InpaintingFaces, Jitter
from training.loop import common_arguments, images_to_model, resolve_config, set_by_path
from training.reference_data import WithReference, clean_rows_by_person
from training.train_inpainter import InpainterTrainer


class ReferenceTrainer(InpainterTrainer):
    name = "reference"

    def build(self) -> None:
        super().build()
        data = self.config.get("data", {})
        sets = [WithReference(self.train_set, none_share=self.none_share())]
        if self.args.references is not None:
            people = FaceCache(self.args.references)
            faces = InpaintingFaces(people, "train", jitter=Jitter.from_config(data.get("jitter", {})),
                                    seed=self.seed, **self.hole_settings())
            pairs = self.pairs_only(faces)
            # real pairs are few: repeat them so they make about a third of what the generator sees
            repeats = max(1, int(round(0.5 * len(self.train_set) / max(1, len(faces.rows)))))
            sets += [WithReference(faces, pairs, none_share=self.none_share(), seed=self.seed)] * repeats
            self.data_facts["references"] = {"cache": str(self.args.references), "train_people": len(pairs)}
        self.train_set = ConcatDataset(sets)

    def validation_sets(self, cache: FaceCache) -> list[Any]:
        """The inpainter's validation faces with self-references, and the ROF val people with real pairs."""
        sets = [WithReference(faces, none_share=self.none_share(), deterministic=True)
                for faces in super().validation_sets(cache)]
        if self.args.references is not None:
            faces = InpaintingFaces(FaceCache(self.args.references), "val", jitter=None, deterministic=True,
                                    seed=54321, **self.hole_settings())
            sets.append(WithReference(faces, self.pairs_only(faces), none_share=self.none_share(),
                                      deterministic=True, seed=self.seed))
        return sets

    def none_share(self) -> float:
        return float(self.config.get("reference", {}).get("none_share", 0.25))

    @staticmethod
    def pairs_only(faces: InpaintingFaces) -> dict[str, list[int]]:
        """Restrict `faces` to the clean photos of people with another one; returns person -> rows."""
        pairs = clean_rows_by_person(faces.cache, faces.rows)
        faces.rows = [row for rows in pairs.values() for row in rows]
        return pairs

    def conditioning(self, batch: dict[str, Any], occluded: torch.Tensor, noise: float) -> tuple[torch.Tensor, ...]:
        """(identity vector, reference): the encoder's vector of the reference where there is one, else
        of the occluded photo; the reference in [-1, 1], all zeros where there is none."""
        present = batch["has_reference"].to(occluded.device).bool()
        reference = images_to_model(batch["reference"], self.channels_last) * present[:, None, None, None]
        identity = self.identity(batch, occluded, noise)
        if self.features is not None and present.any():
            with torch.no_grad(), self.autocast():
                from_reference = self.features(reference)[0].float()
            identity = torch.where(present[:, None], from_reference, identity)
        return identity, reference


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = common_arguments("reference", __doc__.split("\n\n")[0])
    parser.set_defaults(config=Path(__file__).resolve().parent / "configs" / "inpainter.yaml")
    parser.add_argument("--encoder", type=Path, default=None,
                        help="encoder checkpoint: condition on its vector and add identity/perceptual losses")
    parser.add_argument("--references", type=Path, default=None,
                        help="ROF data cache (prepare_data --sources rof): real pairs of the training people")
    args = parser.parse_args(argv)
    config = resolve_config(args)
    set_by_path(config, "model.generator.reference", True)
    return ReferenceTrainer(args, config).run()


if __name__ == "__main__":
    main()
