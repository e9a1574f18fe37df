"""Every genisp_mmdet module is registered by name in MMDetection's registries, and nothing
registered is missing from this list."""
import pytest

from mmdet import registry as mmdet_registry

EXPECTED = {
    'METRICS': ['RawCocoMetric'],
    'EVALUATOR': ['ConcatDatasetEvaluator'],
    'MODELS': ['GenISP', 'GainGammaISP', 'RawDetDataPreprocessor', 'FrozenDetector',
               'NanoDetShuffleNetV2', 'NanoDetPAN', 'NanoDetHead'],
    'TRANSFORMS': ['LoadRawImageFromFile', 'LoadPackedRawFromFile', 'AlignRawAnnotations',
                   'LoadNumpyImageFromFile', 'LoadLibRawRenderedImage', 'AsShotWhiteBalance'],
    'DATASETS': ['RawCocoDataset'],
    'HOOKS': ['RawDetVisualizationHook', 'ISPSyncCheckHook', 'KeepFreedMemoryHook',
              'WarmStartISPHook', 'BadFilesHook', 'ISPWatchHook', 'HeldOutCalibrationHook'],
    'OPTIM_WRAPPER_CONSTRUCTORS': ['TrainableParamsOptimWrapperConstructor'],
}


@pytest.mark.parametrize('registry_name,names', sorted(EXPECTED.items()))
def test_modules_are_found_by_name(registry_name, names):
    registry = getattr(mmdet_registry, registry_name)
    for name in names:
        cls = registry.get(name)
        assert cls is not None, f'{name} not in {registry_name}'
        assert cls.__module__.startswith('genisp_mmdet'), (name, cls.__module__)


def test_no_unlisted_registrations():
    found = {}
    for registry_name in ('MODELS', 'TRANSFORMS', 'DATASETS', 'HOOKS', 'METRICS',
                          'OPTIM_WRAPPER_CONSTRUCTORS', 'VISUALIZERS', 'EVALUATOR'):
        registry = getattr(mmdet_registry, registry_name)
        ours = sorted(n for n, c in registry.module_dict.items()
                      if c.__module__.startswith('genisp_mmdet'))
        if ours:
            found[registry_name] = ours
    expected = {k: sorted(v) for k, v in EXPECTED.items()}
    assert found == expected
