"""A stand-in for the hosted providers: speaks ModelStream's and Apiframe's wire formats and
renders a real MP4 from the reference image. It imports nothing of the studio's apps."""
