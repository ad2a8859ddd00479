"""Metrics: image (PSNR, SSIM), geometry (chamfer, F-score), FID, the perceptual distance (LPIPS), the
weights policy for their networks (never downloaded at run time) and the feature networks themselves.
Takes predicted and true images or points; gives numbers."""
