"""Stage 2, model: condition images and cameras in; tri-planes, a radiance field and images out. The
encoder and conditioned backbone paint one tri-plane set per input view (triplane.py ties it together),
fusion.py mixes the front and back features per sample point by view direction, decoder.py gives
density and features, volumetric_rendering/ renders any field, superresolution.py upsamples, and
discriminator.py scores images. Imports only geometry and torch_utils: no data, training or I/O."""
